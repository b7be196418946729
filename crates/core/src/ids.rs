//! Typed identifiers: a workspace id cannot be passed where a blocklist entry id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7), so fresh rows land at the end of indexes.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant: everything in Reachkit belongs to exactly one workspace.
    WorkspaceId
);
id_type!(
    /// An API key (the record, not the secret).
    ApiKeyId
);
id_type!(
    /// An entry of a workspace's blocklist.
    BlocklistEntryId
);
id_type!(
    /// A campaign.
    CampaignId
);
id_type!(
    /// A step of a campaign's sequence (a row of `sequences`).
    SequenceId
);
id_type!(
    /// An A/B variant of a sequence step.
    VariantId
);
id_type!(
    /// A sending inbox (mailbox) of a workspace.
    InboxId
);
id_type!(
    /// A lead of a campaign.
    LeadId
);
id_type!(
    /// One email of the send queue: a (lead, step) pair (a row of `sends`).
    SendId
);
id_type!(
    /// A unibox conversation (a row of `conversations`).
    ConversationId
);
id_type!(
    /// An email of a conversation (a row of `messages`).
    MessageId
);
id_type!(
    /// An attachment of a conversation's email (a row of `attachments`).
    AttachmentId
);
id_type!(
    /// A webhook endpoint of a workspace.
    WebhookEndpointId
);
id_type!(
    /// One delivery of one event to one webhook endpoint.
    WebhookDeliveryId
);
