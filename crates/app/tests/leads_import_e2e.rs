//! End to end: `reachkit leads import` (the real binary) loading CSV files with odd columns
//! and bad rows into PostgreSQL.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use diesel::sql_types::{Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{CampaignId, WorkspaceId};
use reachkit_testkit::binary::{self, Server};
use reachkit_testkit::{TestDatabase, execute, insert_campaign, lead_counters};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");

fn reachkit(db: &TestDatabase) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir());
    cmd
}

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

fn succeed(cmd: &mut Command) -> String {
    let output = cmd.output().expect("run reachkit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(stdout: &str) -> Value {
    assert_eq!(stdout.lines().count(), 1, "not one line: {stdout}");
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

async fn setup(db: &TestDatabase) -> (String, CampaignId) {
    let ws = json_of(&succeed(reachkit(db).args([
        "workspace",
        "create",
        "--name",
        "Import",
        "--json",
    ])));
    let ws = ws["id"].as_str().expect("id").to_owned();
    let id: WorkspaceId = ws.parse().expect("workspace id");
    let campaign = insert_campaign(db, id, "Q1").await.expect("campaign");
    (ws, campaign)
}

fn csv_file(contents: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(contents)
}

/// A file removed when dropped (no extra dependency for one temporary file).
mod tempfile_path {
    use std::path::PathBuf;

    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn new(contents: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("reachkit-import-{}.csv", uuid::Uuid::new_v4()));
            std::fs::write(&path, contents).expect("write the CSV file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct StoredLead {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
    #[diesel(sql_type = Jsonb)]
    variables: Value,
}

async fn stored(db: &TestDatabase, campaign: CampaignId) -> Vec<StoredLead> {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "SELECT email, first_name, last_name, variables FROM leads WHERE campaign_id = $1 \
         ORDER BY email",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .load(&mut conn)
    .await
    .expect("leads")
}

fn import(db: &TestDatabase, ws: &str, campaign: CampaignId, extra: &[&str]) -> Command {
    let mut cmd = reachkit(db);
    cmd.args(["leads", "import", "--workspace", ws, "--campaign"])
        .arg(campaign.to_string())
        .args(extra);
    cmd
}

#[tokio::test]
async fn a_csv_with_odd_columns_and_bad_rows_imports_the_good_rows_and_reports_the_rest() {
    let db = database().await;
    let (ws, campaign) = setup(&db).await;
    execute(
        &db.url,
        &format!(
            "INSERT INTO blocklist_entries (id, workspace_id, email, created_at) \
             VALUES (gen_random_uuid(), '{ws}', 'blocked@acme.com', now())"
        ),
    )
    .await
    .expect("block");
    // A byte-order mark, aliases for the fields, a quoted cell with a comma and a line break,
    // an ignored column, an invalid address, a row with too many cells, a blocklisted address,
    // and an address repeated in the file.
    let file = csv_file(
        "\u{feff}E-mail,First Name,Surname,Company,Job Title,Internal notes\n\
         ann@acme.com,Ann,Lee,\"Acme, Inc.\",CTO,do not show\n\
         not-an-address,Bob,Stone,Initech,,\n\
         cy@initech.com,Cy,,Initech,\"Head of\nSales\",\n\
         dee@globex.com,Dee,Moss,Globex,VP,x,extra cell\n\
         Blocked@Acme.com,Eve,,Acme,,\n\
         ANN@acme.com,Ann,Lee,Acme,CEO,\n",
    );
    let out = json_of(&succeed(
        import(&db, &ws, campaign, &["--map", "internal notes=-", "--json"]).arg(&file.0),
    ));
    assert_eq!(
        [
            &out["rows"],
            &out["created"],
            &out["updated"],
            &out["skipped"],
            &out["invalid"],
            &out["blocklisted"],
            &out["duplicates"]
        ],
        [6, 2, 0, 0, 2, 1, 1],
        "{out}"
    );
    let errors = out["errors"].as_array().expect("errors");
    let where_: Vec<(i64, i64)> = errors
        .iter()
        .map(|e| {
            (
                e["index"].as_i64().expect("index"),
                e["line"].as_i64().expect("line"),
            )
        })
        .collect();
    // The quoted line break makes the fourth row start on line 6.
    assert_eq!(where_, [(1, 3), (3, 6), (5, 8)], "{out}");
    assert!(
        errors[0]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid_email: "))
    );
    assert!(errors[1]["details"]["row"].is_string(), "{out}");
    assert!(
        errors[2]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("duplicate: "))
    );

    let leads = stored(&db, campaign).await;
    let emails: Vec<&str> = leads.iter().map(|l| l.email.as_str()).collect();
    assert_eq!(emails, ["ann@acme.com", "cy@initech.com"]);
    assert_eq!(
        (leads[0].first_name.as_str(), leads[0].last_name.as_str()),
        ("Ann", "Lee")
    );
    assert_eq!(
        leads[0].variables,
        json!({"company": "Acme, Inc.", "Job Title": "CTO"})
    );
    assert_eq!(leads[1].last_name, "");
    assert_eq!(
        leads[1].variables,
        json!({"company": "Initech", "Job Title": "Head of\nSales"})
    );
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (2, 0)
    );

    // Again with update, from standard input, semicolon-separated, as text.
    let mut child = import(
        &db,
        &ws,
        campaign,
        &["--if-exists", "update", "--delimiter", ";", "-"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"email;title\nann@acme.com;Founder\nnew@acme.com;\n")
        .expect("write stdin");
    let output: Output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("created      1"), "{stdout}");
    assert!(stdout.contains("updated      1"), "{stdout}");
    let leads = stored(&db, campaign).await;
    assert_eq!(
        leads[0].variables,
        json!({"company": "Acme, Inc.", "Job Title": "CTO", "title": "Founder"})
    );
    assert_eq!(
        leads[0].first_name, "Ann",
        "an absent column never blanks a name"
    );
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (3, 0)
    );
}

#[tokio::test]
async fn an_import_that_cannot_start_fails_and_stores_nothing() {
    let db = database().await;
    let (ws, campaign) = setup(&db).await;
    let no_email = csv_file("name,company\nAnn,Acme\n");
    let other = CampaignId::new();
    let good = csv_file("email\nann@acme.com\n");
    let cases: Vec<(Command, &str)> = vec![
        (
            {
                let mut c = import(&db, &ws, campaign, &[]);
                c.arg(&no_email.0);
                c
            },
            "no column holds the email address",
        ),
        (
            {
                let mut c = import(&db, &ws, other, &[]);
                c.arg(&good.0);
                c
            },
            "has no campaign",
        ),
        (
            {
                let mut c = import(&db, &ws, campaign, &["--if-exists", "replace"]);
                c.arg(&good.0);
                c
            },
            "--if-exists",
        ),
        (
            {
                let mut c = import(&db, &ws, campaign, &["--map", "nope=email"]);
                c.arg(&good.0);
                c
            },
            "does not have",
        ),
        (
            {
                let mut c = import(&db, &ws, campaign, &[]);
                c.arg("/nonexistent/leads.csv");
                c
            },
            "cannot open",
        ),
    ];
    for (mut cmd, message) in cases {
        let output = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{message}: succeeded");
        assert!(stderr.contains(message), "{message}: {stderr}");
    }
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (0, 0)
    );
    assert!(stored(&db, campaign).await.is_empty());
}

#[tokio::test]
async fn an_address_repeated_across_batches_is_updated_in_file_order() {
    let db = database().await;
    let (ws, campaign) = setup(&db).await;
    // 2,500 rows in three batches; lead0 comes back in the second one, which must therefore
    // wait for the first (written at once, the first row's values would win).
    let mut csv = String::from("email,city\n");
    for i in 0..2_500 {
        match i {
            1_500 => csv.push_str("LEAD0@x.io,Later\n"),
            _ => csv.push_str(&format!("lead{i}@x.io,City {i}\n")),
        }
    }
    let file = csv_file(&csv);
    let out = json_of(&succeed(
        import(&db, &ws, campaign, &["--if-exists", "update", "--json"]).arg(&file.0),
    ));
    assert_eq!(
        [
            &out["rows"],
            &out["created"],
            &out["updated"],
            &out["invalid"]
        ],
        [2_500, 2_499, 1, 0],
        "{out}"
    );
    let leads = stored(&db, campaign).await;
    assert_eq!(leads.len(), 2_499);
    let lead0 = leads
        .iter()
        .find(|l| l.email == "lead0@x.io")
        .expect("lead0");
    assert_eq!(lead0.variables, json!({"city": "Later"}));
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (2_499, 0)
    );
}

#[actix_web::test]
async fn the_bulk_endpoint_of_the_real_server_takes_a_thousand_leads_in_one_large_body() {
    let db = database().await;
    let (ws, campaign) = setup(&db).await;
    let key = json_of(&succeed(reachkit(&db).args([
        "api-key",
        "create",
        "--workspace",
        &ws,
        "--name",
        "bulk",
        "--json",
    ])));
    let key = key["key"].as_str().expect("key").to_owned();
    let server = Server::start(
        reachkit(&db)
            .args(["serve", "--api-only"])
            .env("REACHKIT__SECRETS__KEY", binary::SECRETS_KEY),
    );
    let base = &server.origin;

    // 1,000 leads with a 1,500-character variable each: about 1.6 MB, over the 1 MiB of other
    // routes; one bad row.
    let note = "n".repeat(1_500);
    let mut leads: Vec<Value> = (0..1_000)
        .map(|i| json!({"email": format!("lead{i}@acme.com"), "variables": {"note": note}}))
        .collect();
    leads[7] = json!({"email": "bad address"});
    let url = format!("{base}/api/v1/campaigns/{campaign}/leads/bulk");
    let client = awc::Client::default();
    let mut response = client
        .post(&url)
        .insert_header(("Authorization", format!("Bearer {key}")))
        .send_json(&json!({ "leads": leads }))
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["created"], 999, "{body}");
    assert_eq!(body["data"]["invalid"], 1, "{body}");
    assert_eq!(body["data"]["errors"][0]["index"], 7, "{body}");
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (999, 0)
    );

    // A campaign of another workspace is 404 through the real wiring too.
    let other = json_of(&succeed(reachkit(&db).args([
        "workspace",
        "create",
        "--name",
        "Other",
        "--json",
    ])));
    let other_campaign = insert_campaign(
        &db,
        other["id"].as_str().expect("id").parse().expect("uuid"),
        "Theirs",
    )
    .await
    .expect("campaign");
    let response = client
        .post(format!(
            "{base}/api/v1/campaigns/{other_campaign}/leads/bulk"
        ))
        .insert_header(("Authorization", format!("Bearer {key}")))
        .send_json(&json!({"leads": [{"email": "a@acme.com"}]}))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
}
