DROP TABLE warmup_messages;
DROP TRIGGER warmup_restart_ramp ON inboxes;
DROP FUNCTION warmup_restart_ramp();
DROP TABLE warmup_state;
