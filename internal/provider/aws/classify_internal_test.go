package aws

import (
	"testing"

	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// TestEveryCreateFailureReasonClassified holds the driver to the SDK's
// list of CreateAccount failure reasons: a reason AWS adds shows up here
// when the SDK is updated, not as an unexplained failure in production.
func TestEveryCreateFailureReasonClassified(t *testing.T) {
	t.Parallel()
	reasons := orgtypes.CreateAccountFailureReason("").Values()
	if len(reasons) < 15 {
		t.Fatalf("the SDK lists %d reasons; AWS documents 15", len(reasons))
	}
	for _, r := range reasons {
		f, ok := createFailures[r]
		if !ok || f.detail == "" {
			t.Errorf("%s: not classified", r)
		}
	}
	tests := []struct {
		reason           orgtypes.CreateAccountFailureReason
		duplicate, retry bool
	}{
		{"INTERNAL_FAILURE", false, true},
		{"CONCURRENT_ACCOUNT_MODIFICATION", true, true},
		{"EMAIL_ALREADY_EXISTS", true, false},
		{"ACCOUNT_LIMIT_EXCEEDED", false, false},
		{"MISSING_PAYMENT_INSTRUMENT", false, false},
	}
	for _, tt := range tests {
		st := createStatus(&orgtypes.CreateAccountStatus{State: orgtypes.CreateAccountStateFailed, FailureReason: tt.reason})
		if st.State != provider.CreateFailed || st.Duplicate != tt.duplicate || st.Retry != tt.retry || st.FailureDetail == "" {
			t.Errorf("%s: %+v, want duplicate %v retry %v", tt.reason, st, tt.duplicate, tt.retry)
		}
	}
	if st := createStatus(&orgtypes.CreateAccountStatus{State: orgtypes.CreateAccountStateFailed, FailureReason: "SOMETHING_NEW"}); st.Retry || st.Duplicate || st.FailureDetail == "" {
		t.Errorf("an unknown reason must stop for an operator: %+v", st)
	}
}
