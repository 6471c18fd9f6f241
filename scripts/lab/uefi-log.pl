#!/usr/bin/perl
# uefi-log.pl OUT: the lab nodes' simulated firmware boot. Writes OUT, a UEFI
# event log in the TCG crypto-agile format (sha256 bank only, as the lab's
# swtpms), and prints one "PCR:sha256=DIGEST" per measured event, in order,
# for tpm2_pcrextend (the firmware's extends into PCRs 0-7 of a fresh TPM).
# The same firmware boots every time: the log is the same on every boot.
# Events: S-CRTM version and firmware blob (PCR 0), the SecureBoot variable
# (PCR 7), a separator in each of PCRs 0-7, then the boot loader (PCR 4).
# Digests of the event types a verifier binds to their data (separator,
# variable, EFI action, S-CRTM version) are the sha256 of that data.
use strict;
use warnings;
use Digest::SHA qw(sha256);

my $out = shift or die "usage: uefi-log.pl OUT\n";
my $sha256 = 0x000B;

sub utf16 { return join('', map { pack('v', ord) } split //, shift) }

# EFI_GUID as laid out in memory: u32le, u16le, u16le, 8 bytes.
sub guid {
  my @p = split /-/, shift;
  return pack('V v v', hex $p[0], hex $p[1], hex $p[2]) . pack('H*', $p[3] . $p[4]);
}

my ($log, @extends) = ('');

# TCG_PCClientPCREvent carrying TCG_EfiSpecIDEvent: SHA1-format header
# (EV_NO_ACTION, PCR 0, zero digest), spec 2.0, UINTN 64-bit, one bank.
my $spec = "Spec ID Event03\0" . pack('V C C C C V v v C', 0, 0, 2, 0, 2, 1, $sha256, 32, 0);
$log .= pack('V V', 0, 0x3) . ("\0" x 20) . pack('V', length $spec) . $spec;

sub event {
  my ($pcr, $type, $data, $digest) = @_;
  $digest //= sha256($data);
  $log .= pack('V V V v', $pcr, $type, 1, $sha256) . $digest . pack('V', length $data) . $data;
  push @extends, sprintf('%d:sha256=%s', $pcr, unpack('H*', $digest));
}

event(0, 0x8, utf16("lab firmware 1.0\0"));                                    # EV_S_CRTM_VERSION
event(0, 0x80000008, pack('Q< Q<', 0xFFC00000, 0x400000), sha256('lab firmware volume'));
event(7, 0x80000001,                                             # EV_EFI_VARIABLE_DRIVER_CONFIG
  guid('8be4df61-93ca-11d2-aa0d-00e098032b8c') . pack('Q< Q<', 10, 1) . utf16('SecureBoot') . "\x01");
event($_, 0x4, "\0\0\0\0") for 0 .. 7;                                         # EV_SEPARATOR
event(4, 0x80000007, 'Calling EFI Application from Boot Option');             # EV_EFI_ACTION
# EV_EFI_BOOT_SERVICES_APPLICATION: UEFI_IMAGE_LOAD_EVENT with an end-of-path
# device path; the digest is the image's (Authenticode) hash.
event(4, 0x80000003, pack('Q< Q< Q< Q<', 0x7E000000, 0x100000, 0, 4) . "\x7f\xff\x04\x00",
  sha256('lab boot loader'));

open(my $fh, '>:raw', "$out.tmp") or die "uefi-log.pl: $out.tmp: $!\n";
print $fh $log;
close($fh) or die "uefi-log.pl: $out.tmp: $!\n";
rename("$out.tmp", $out) or die "uefi-log.pl: $out: $!\n";
print "$_\n" for @extends;
