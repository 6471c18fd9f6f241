#!/usr/bin/perl
# ima-entries.pl: reads "PATH SHA256_HEX" lines on stdin and prints, per
# line, the ima-ng entry a kernel would write, in both list formats, and the
# sha256 of its template data (the value IMA extends into PCR 10's sha256 bank):
#   10 <sha1(template data)> ima-ng sha256:<digest> <PATH>\t<sha256 hex>\t<binary record hex>
# Template data: u32le(len) "sha256:\0" digest | u32le(len) PATH "\0".
# Binary record (binary_runtime_measurements): u32le(10) sha1(template data)
# u32le(6) "ima-ng" u32le(len) template data, as hex so it fits on the line.
# One process for any number of entries (spawning per entry is slow).
use strict;
use warnings;
use Digest::SHA qw(sha1 sha1_hex sha256_hex);

while (my $line = <STDIN>) {
  chomp $line;
  next if $line eq '';
  my ($path, $digest) = split / /, $line, 2;
  die "ima-entries.pl: bad line '$line' (want: PATH SHA256_HEX)\n"
    unless defined $digest && $digest =~ /^[0-9a-f]{64}$/ && $path =~ /^\S+$/;
  my $d_ng = "sha256:\0" . pack('H*', $digest);
  my $n_ng = $path . "\0";
  my $data = pack('V', length $d_ng) . $d_ng . pack('V', length $n_ng) . $n_ng;
  my $record = pack('V', 10) . sha1($data) . pack('V', 6) . 'ima-ng' . pack('V', length $data) . $data;
  printf "10 %s ima-ng sha256:%s %s\t%s\t%s\n", sha1_hex($data), $digest, $path, sha256_hex($data),
    unpack('H*', $record);
}
