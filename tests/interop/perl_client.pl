#!/usr/bin/perl
# A customer made with Debian's libnet-smpp-perl (Net::SMPP, not this
# project's code), in its synchronous mode: binds of the three kinds, a bad
# password, submit_sm with their message ids, enquire_link and unbind.
# Prints one JSON line with what the gateway answered.
#   perl_client.pl PORT SYSTEM_ID PASSWORD COUNT
use strict;
use warnings;
use Net::SMPP;

my ($port, $system_id, $password, $count) = @ARGV;
die "usage: perl_client.pl PORT SYSTEM_ID PASSWORD COUNT\n" unless defined $count;
my %args = (port => $port, system_id => $system_id, password => $password, timeout => 10);
my %out;

sub bind_status {
    my ($ctor, %a) = @_;
    my ($smpp, $resp) = Net::SMPP->$ctor('127.0.0.1', %a);
    return (undef, -1) unless $smpp && $resp;
    return ($smpp, $resp->{status});
}

for my $kind (qw(transmitter receiver)) {
    my ($smpp, $status) = bind_status("new_$kind", %args);
    $out{$kind} = $status;
    if ($smpp) { $smpp->unbind(); $smpp->close(); }
}
my (undef, $bad) = bind_status('new_transceiver', %args, password => 'wrong');
$out{bad_password} = $bad;

my ($smpp, $status) = bind_status('new_transceiver', %args);
$out{transceiver} = $status;
die "transceiver bind failed\n" unless $smpp && $status == 0;
my (@ids, %errors);
for my $i (1 .. $count) {
    my $resp = $smpp->submit_sm(
        source_addr_ton => 1, source_addr_npi => 1, source_addr => '4915550000',
        dest_addr_ton => 1, dest_addr_npi => 1, destination_addr => '4915551' . sprintf('%04d', $i),
        data_coding => 0, short_message => "perl net-smpp $i");
    if (!$resp) { $errors{none}++; next; }
    if ($resp->{status} == 0) { push @ids, $resp->{message_id}; }
    else { $errors{$resp->{status}}++; }
}
my $link = $smpp->enquire_link();
$out{enquire_link} = $link ? $link->{status} : -1;
my $unbound = $smpp->unbind();
$out{unbind} = $unbound ? $unbound->{status} : -1;
$smpp->close();

my %seen;
$out{ok} = scalar @ids;
$out{unique_ids} = scalar(grep { !$seen{$_}++ } @ids);
$out{longest_id} = 0;
for (@ids) { $out{longest_id} = length($_) if length($_) > $out{longest_id}; }
$out{errors} = join(',', map { "$_:$errors{$_}" } sort keys %errors);
print '{' . join(',', map { my $v = $out{$_}; "\"$_\":" . ($v =~ /^-?\d+$/ ? $v : "\"$v\"") } sort keys %out) . "}\n";
