//! The evidence ledger's gRPC API: the `evidence.v1` protobuf messages and the `Ledger`
//! service, generated from `evidence/v1/ledger.proto` (the contract for callers in any
//! language).

#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    reason = "generated code"
)]
pub mod v1 {
    tonic::include_proto!("evidence.v1");
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::v1::{GetReceiptRequest, Receipt, get_receipt_request};

    #[test]
    fn messages_round_trip_through_the_wire_format() {
        let request = GetReceiptRequest {
            by: Some(get_receipt_request::By::EntryIndex(42)),
            at_height: 7,
        };
        let bytes = request.encode_to_vec();
        assert_eq!(
            GetReceiptRequest::decode(bytes.as_slice()).unwrap(),
            request
        );
    }

    #[test]
    fn malformed_wire_bytes_are_a_decode_error() {
        // Field 1 (length-delimited) claiming 100 bytes with 2 present.
        assert!(Receipt::decode(&[0x0a, 100, 1, 2][..]).is_err());
        // A truncated varint.
        assert!(GetReceiptRequest::decode(&[0x18, 0xff][..]).is_err());
        // A string field that is not UTF-8.
        assert!(Receipt::decode(&[0x2a, 2, 0xff, 0xfe][..]).is_err());
    }
}
