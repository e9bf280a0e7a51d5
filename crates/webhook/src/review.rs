//! `AdmissionReview` v1 in and out, without I/O: parse a body into a request, and write a
//! response body.

use base64::Engine as _;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

/// A body that is not an `AdmissionReview` with a request.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not the shape of an `AdmissionReview`.
    #[error("the body is not an AdmissionReview: {0}")]
    Malformed(#[from] serde_json::Error),
    /// An `AdmissionReview` without a request.
    #[error("the AdmissionReview has no request")]
    NoRequest,
    /// Another version than `admission.k8s.io/v1`.
    #[error("unsupported AdmissionReview version {0:?}; this webhook speaks admission.k8s.io/v1")]
    Version(String),
}

/// Parses a request body.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, ReviewError> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)?;
    if review.types.api_version != "admission.k8s.io/v1" {
        return Err(ReviewError::Version(review.types.api_version));
    }
    review.try_into().map_err(|_| ReviewError::NoRequest)
}

/// Whether this webhook has anything to do with the request: a Pod being created.
pub fn is_pod_create(req: &AdmissionRequest<DynamicObject>) -> bool {
    req.kind.group.is_empty()
        && req.kind.kind == "Pod"
        && req.operation == Operation::Create
        && req.sub_resource.as_deref().is_none_or(str::is_empty)
}

/// The response body. The patch goes out base64-encoded, as the API server's Go types encode a
/// `[]byte`: kube-core serialises it as an array of numbers, which Go happens to accept too, but
/// the string is the documented form.
pub fn body(response: AdmissionResponse) -> Vec<u8> {
    let patch = response.patch.clone();
    let mut value = serde_json::to_value(response.into_review()).unwrap_or_default();
    if let (Some(bytes), Some(slot)) = (patch, value.pointer_mut("/response/patch")) {
        *slot = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: &str, operation: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": kind},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "shop", "operation": operation,
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": {"apiVersion": "v1", "kind": kind, "metadata": {"generateName": "web-"}},
            },
        }))
        .unwrap()
    }

    #[test]
    fn pod_creations_are_recognised_and_other_requests_are_not() {
        assert!(is_pod_create(&parse(&review("Pod", "CREATE")).unwrap()));
        assert!(!is_pod_create(&parse(&review("Pod", "UPDATE")).unwrap()));
        assert!(!is_pod_create(&parse(&review("Service", "CREATE")).unwrap()));
    }

    #[test]
    fn malformed_bodies_are_errors_with_a_reason() {
        assert!(matches!(parse(b"{not json"), Err(ReviewError::Malformed(_))));
        assert!(matches!(parse(b"[]"), Err(ReviewError::Malformed(_))));
        let no_request = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
        assert!(matches!(parse(no_request), Err(ReviewError::NoRequest)));
        let v1beta1 = String::from_utf8(review("Pod", "CREATE"))
            .unwrap()
            .replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1");
        assert!(
            matches!(parse(v1beta1.as_bytes()), Err(ReviewError::Version(v)) if v == "admission.k8s.io/v1beta1")
        );
    }

    #[test]
    fn the_patch_goes_out_base64_encoded_as_a_json_patch() {
        let req = parse(&review("Pod", "CREATE")).unwrap();
        let patch: json_patch::Patch = serde_json::from_value(
            serde_json::json!([{"op": "add", "path": "/metadata/labels", "value": {}}]),
        )
        .unwrap();
        let out: serde_json::Value =
            serde_json::from_slice(&body(AdmissionResponse::from(&req).with_patch(patch).unwrap())).unwrap();
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["response"]["uid"], "u-1");
        assert_eq!(out["response"]["allowed"], true);
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(out["response"]["patch"].as_str().unwrap())
            .unwrap();
        let ops: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(ops[0]["path"], "/metadata/labels");
    }
}
