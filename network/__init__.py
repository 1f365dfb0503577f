"""Networks beyond loopback, made on this machine: hosts as network namespaces on a bridge
(`network.topology`), each behind a link with a rate, a loss and a delay (`network.links`)."""
