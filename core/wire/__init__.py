"""Wire codecs, one module per transport: the server's encoders and the clients' parsers."""
