DROP TABLE leads;
DROP TABLE campaign_inboxes;
DROP TABLE variants;
DROP TABLE sequences;
DROP TABLE campaign_daily_stats;
DROP TABLE campaign_stats;
DROP TABLE campaigns;
DROP TABLE inboxes;
