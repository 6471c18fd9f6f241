#!/usr/bin/perl
# check.pl EVIDENCE1 EVIDENCE2 VERDICTS_TSV HISTORY_TSV [ACCEPTED_IDS [REFUSED_IDS]]
#
# The fault campaign's invariants over everything that happened so far:
#   EVIDENCE1/2    kcat -f '%p %o %S %s\n' of attestation.evidence (binary
#                  EvidenceEnvelope values, framed by their size): EVIDENCE1
#                  taken before the workers drained (every record must have
#                  its verdict), EVIDENCE2 after the verdicts were read (every
#                  verdict's evidence must be on it)
#   VERDICTS_TSV   agent, sequence, evidenceId, result per verdict record
#                  (jq over the JSON verdicts)
#   HISTORY_TSV    agent, sequence, result, kafka_partition, kafka_offset per
#                  attestation_history row
#   ACCEPTED_IDS   evidence ids the agents got a 202 for (optional)
#   REFUSED_IDS    evidence ids the gateway answered 503 for after producing
#                  them (delivery failed; optional)
# Prints one line of key=value counts; exits 1 when an invariant is broken:
#   lost        a 202'd evidence id that is not on the evidence topic
#   missing     a record on the topic without a history row, or a 202'd /
#               recorded evidence without a verdict on the verdict topic
#   dup_history an evidence record verified twice (two history rows), or
#               two history rows with the same (agent, sequence)
#   dup_verdict two different verdicts (by sequence) for one evidence id
#               (also: a second copy of a record Kafka holds twice verified
#               again)
#   unexpected  a verdict naming an evidence id that never reached the topic
#   refused_verdict  a verdict naming an evidence id the gateway refused
#               (503), which Kafka wrote anyway ("possibly persisted")
# Informational: topic_redelivered (the same (agent, sequence) published
# again after a crash: at-least-once outbox relay, same verdict), offline,
# copies (records whose evidence id an earlier record of the topic has, the
# gateway's producer having written it twice: the worker verifies the first
# and skips the copy, so a copy has no history row of its own).
use strict;
use warnings;

my ($evidence_file, $evidence2_file, $verdicts_file, $history_file, $accepted_file, $refused_file) =
  @ARGV;
die "usage: check.pl EVIDENCE1 EVIDENCE2 VERDICTS HISTORY [ACCEPTED [REFUSED]]\n"
  unless $history_file;

sub slurp {
  my ($f) = @_;
  open(my $fh, '<:raw', $f) or die "$f: $!\n";
  local $/;
  my $d = <$fh>;
  return defined $d ? $d : '';
}

# Evidence records: "p o size value\n" -> ({"p/o" => evidence id}, count).
sub records_of {
  my ($file) = @_;
  my %ids;
  my $data = slurp($file);
  my $n = 0;
  while ($data =~ /\G(\d+) (\d+) (-?\d+) /gc) {
    my ($p, $o, $size) = ($1, $2, $3);
    my $start = pos($data);
    $size = 0 if $size < 0;
    my $value = substr($data, $start, $size);
    pos($data) = $start + $size + 1;    # the value and its "\n"
    $n++;
    # EvidenceEnvelope field 1 (evidence_id): tag 0x0a, one-byte length.
    my $id = '';
    if (length($value) > 2 && ord(substr($value, 0, 1)) == 0x0a) {
      my $len = ord(substr($value, 1, 1));
      $id = substr($value, 2, $len) if $len < 128;
    }
    $ids{"$p/$o"} = $id;
  }
  return (\%ids, $n);
}
my ($record_id_ref, $records) = records_of($evidence_file);
my %record_id = %$record_id_ref;
my ($later_ref) = records_of($evidence2_file);
my %id_on_topic = map { $_ => 1 } grep { $_ ne '' } values %$later_ref;

my (%history_by_record, %history_seq, $history_rows, $dup_history);
$history_rows = 0;
$dup_history = 0;
for my $line (split /\n/, slurp($history_file)) {
  my ($agent, $seq, $result, $p, $o) = split /\t/, $line;
  next unless defined $seq;
  $history_rows++;
  $dup_history++ if $history_seq{"$agent/$seq"}++;
  if (defined $o && $o ne '') {
    $dup_history++ if $history_by_record{"$p/$o"}++;
  }
}

my (%verdict_seqs_of_id, %seen_verdict, $verdict_msgs, $redelivered, $offline, $unexpected);
$verdict_msgs = $redelivered = $offline = $unexpected = 0;
for my $line (split /\n/, slurp($verdicts_file)) {
  my ($agent, $seq, $id, $result) = split /\t/, $line;
  next unless defined $seq;
  $verdict_msgs++;
  if ($seen_verdict{"$agent/$seq"}++) {
    $redelivered++;
    next;
  }
  $offline++ if defined $result && $result =~ /OFFLINE/;
  next unless defined $id && $id ne '';
  $verdict_seqs_of_id{$id}{$seq} = 1;
  $unexpected++ unless $id_on_topic{$id};
}
my $distinct_verdicts = scalar keys %seen_verdict;

my ($missing, $dup_verdict, $lost, $accepted, $verified, $copies) = (0, 0, 0, 0, 0, 0);
my %verified_id;
for my $rec (keys %record_id) {
  my $id = $record_id{$rec};
  $verified_id{$id} = 1 if $history_by_record{$rec} && $id ne '' && $verdict_seqs_of_id{$id};
}
for my $rec (keys %record_id) {
  my $id = $record_id{$rec};
  if ($history_by_record{$rec} && $id ne '' && $verdict_seqs_of_id{$id}) {
    $verified++;
  } elsif ($id ne '' && $verified_id{$id}) {
    $copies++;    # another record of this evidence was verified
  } else {
    $missing++;
  }
}
for my $id (keys %verdict_seqs_of_id) {
  $dup_verdict++ if keys %{ $verdict_seqs_of_id{$id} } > 1;
}
if (defined $accepted_file && -s $accepted_file) {
  my %ids = map { $_ => 1 } grep { /\S/ } split /\n/, slurp($accepted_file);
  $accepted = scalar keys %ids;
  for my $id (keys %ids) {
    $lost++ unless $id_on_topic{$id};
  }
}

my ($refused, $refused_verdict) = (0, 0);
if (defined $refused_file && -s $refused_file) {
  my %ids = map { $_ => 1 } grep { /\S/ } split /\n/, slurp($refused_file);
  $refused = scalar keys %ids;
  for my $id (keys %ids) {
    $refused_verdict++ if $verdict_seqs_of_id{$id};
  }
}

my $bad = $lost + $missing + $dup_history + $dup_verdict + $unexpected + $refused_verdict;
# records: on the topic when the check started; verified: of those, with
# exactly one history row and a verdict on the verdict topic.
printf "202s=%d refused=%d records=%d verified=%d copies=%d lost=%d missing=%d dup=%d "
  . "unexpected=%d refused_verdict=%d offline=%d redelivered=%d\n",
  $accepted, $refused, $records, $verified, $copies, $lost, $missing,
  $dup_history + $dup_verdict, $unexpected, $refused_verdict, $offline, $redelivered;
exit($bad ? 1 : 0);
