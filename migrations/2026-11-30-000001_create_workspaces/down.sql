DROP TABLE blocklist_entries;
DROP TABLE api_keys;
DROP TABLE workspaces;
