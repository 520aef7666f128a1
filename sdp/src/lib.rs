//! SDP parsing and writing (RFC 8866) and the JSEP offer/answer model (RFC 9429). Work in progress: see issue 4.
