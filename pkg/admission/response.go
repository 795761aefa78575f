package admission

import (
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Allowed returns a response that admits the object unchanged.
func Allowed(uid types.UID, warnings ...string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true, Warnings: warnings}
}

// Patched returns a response that admits the object with the JSON patch p.
// An empty patch gives the same response as Allowed.
func Patched(uid types.UID, p []byte, warnings ...string) *admissionv1.AdmissionResponse {
	r := Allowed(uid, warnings...)
	if len(p) > 0 {
		pt := admissionv1.PatchTypeJSONPatch
		r.Patch = p
		r.PatchType = &pt
	}
	return r
}

// Errored returns a response that denies the request because the webhook
// could not review it: code is an HTTP status code (400 for a malformed
// object, 500 for a failure of the webhook) and err says what went wrong.
// The API server shows the message to the user.
func Errored(uid types.UID, code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		UID:     uid,
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reasonFor(code),
			Message: err.Error(),
		},
	}
}

func reasonFor(code int32) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusGatewayTimeout:
		return metav1.StatusReasonTimeout
	default:
		return metav1.StatusReasonInternalError
	}
}
