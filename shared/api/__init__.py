"""The HTTP layer of the gateway: wire formats (request parsing, reply and stream rendering, error envelopes).

Everything here turns bytes into the unified form or the unified form into bytes; the service core does the work.
"""
