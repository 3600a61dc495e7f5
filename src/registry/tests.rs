//! Unit tests of the registry client on the in-memory fake transport: no sockets.
use super::*;

#[test]
fn upload_locations_absolute_and_relative() {
    let at = "http://127.0.0.1:5000/v2/app/x/blobs/uploads/";
    assert_eq!(
        resolve_location(at, "/v2/app/x/blobs/uploads/abc?_state=s").as_deref(),
        Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
    );
    assert_eq!(
        resolve_location(at, "abc?_state=s").as_deref(),
        Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
    );
    assert_eq!(
        resolve_location(at, "https://uploads.example.com/u/1").as_deref(),
        Some("https://uploads.example.com/u/1")
    );
    assert!(same_origin(
        "http://127.0.0.1:5000/v2/x",
        "http://127.0.0.1:5000"
    ));
    assert!(!same_origin(
        "https://uploads.example.com/u/1",
        "https://registry.example.com"
    ));
    assert!(!same_origin(
        "http://registry.example.com/u",
        "https://registry.example.com"
    ));
    assert!(!same_origin(
        "https://registry.example.com:444/u",
        "https://registry.example.com"
    ));
}
