-- Issue 17.2: a withheld UEFI log is a failure, and a changed measured-boot
-- reference state is enforced. The worker counts evidence in a row that came
-- without the UEFI log it was asked for (FAIL measured_boot.log_withheld at
-- verification.uefi_log_max_rounds), and records which measured-boot policy
-- version the boot log was accepted against: another version asks for the
-- log again. Re-enrolment clears both. Rows of earlier releases have 0, so
-- every agent with a reference state sends its boot log once more and it is
-- judged by the current checks (the structure checks of issue 17.1).
--
-- Issue 17.5: a FAILED agent comes back to PASS by itself after a reboot
-- that verifies clean. failed_reset_count is the TPM resetCount of the boot
-- it failed in; a PASS in a boot with a higher resetCount clears the failure
-- (a suspend/resume does not: it keeps resetCount). 4294967296 (above any
-- resetCount): only re-enrolment clears it (a TPM rollback). NULL: no
-- failure recorded (rows failed before this migration wait for re-enrolment).
--
-- Issue 17.4: when the stored TPM counters arrived (microseconds since the
-- epoch, 0: unknown), so evidence that does not extend liveness still dates
-- them; a challenge issued later proves a fresh quote (quote.tpm_rollback).
ALTER TABLE enrolments
  ADD COLUMN quote_received_us bigint NOT NULL DEFAULT 0 CHECK (quote_received_us >= 0),
  ADD COLUMN failed_reset_count bigint NULL CHECK (failed_reset_count >= 0),
  ADD COLUMN uefi_log_withheld integer NOT NULL DEFAULT 0 CHECK (uefi_log_withheld >= 0),
  ADD COLUMN boot_log_policy_id bigint NOT NULL DEFAULT 0 CHECK (boot_log_policy_id >= 0);
