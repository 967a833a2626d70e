"""The admission webhook: an HTTP/TLS shell around app.core."""
