-- Issue 16.3: an IMA list sent in parts must be anchored by a quote within a
-- bounded time, or a compromised agent could stay "catching up" for ever
-- (never PASS, but never FAIL either). The worker records when the current
-- catch-up began (Unix seconds; 0: not catching up) and fails the agent with
-- ima.not_anchored when it lasts too long; re-enrolment clears it.
ALTER TABLE enrolments ADD COLUMN ima_catch_up_since bigint NOT NULL DEFAULT 0
  CHECK (ima_catch_up_since >= 0);
