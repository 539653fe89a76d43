package xks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Sizes from the specification. The proxy accepts exactly what the
// specification requires it to; a larger value is "beyond the minimum size
// required", which the specification answers with
// UnsupportedOperationException.
const (
	MaxPlaintext          = 4300 // bytes, encrypt plaintext and decrypt ciphertext
	MaxAAD                = 8192 // bytes of additionalAuthenticatedData
	MaxCiphertextMetadata = 20   // bytes; more is invalid, not merely unsupported
	MaxExternalKeyID      = 128  // characters
	// MaxBody bounds a whole request: the base64 of the largest fields
	// (5,736 + 10,924 bytes), seven requestMetadata strings of up to 2,048
	// characters (ARNs) and room for JSON escaping and future metadata.
	MaxBody = 64 << 10
	tagSize = 16
)

// RequestMetadata is the requestMetadata object of every request. Unknown
// fields in it are accepted: the specification (Appendix B) says AWS KMS may
// add fields at any time, and a proxy that rejected them would break.
type RequestMetadata struct {
	AWSPrincipalARN string `json:"awsPrincipalArn"`
	AWSSourceVPC    string `json:"awsSourceVpc"`
	AWSSourceVPCE   string `json:"awsSourceVpce"`
	KMSKeyARN       string `json:"kmsKeyArn"`
	KMSOperation    string `json:"kmsOperation"`
	KMSRequestID    string `json:"kmsRequestId"`
	KMSViaService   string `json:"kmsViaService"`
}

// The wire forms of the four requests. Pointers tell absent from empty.
type (
	metadataRequest struct {
		RequestMetadata json.RawMessage `json:"requestMetadata"`
	}
	encryptRequest struct {
		RequestMetadata     json.RawMessage `json:"requestMetadata"`
		Plaintext           *string         `json:"plaintext"`
		EncryptionAlgorithm *string         `json:"encryptionAlgorithm"`
		AAD                 *string         `json:"additionalAuthenticatedData"`
		CDIVAlgorithm       *string         `json:"ciphertextDataIntegrityValueAlgorithm"`
	}
	decryptRequest struct {
		RequestMetadata     json.RawMessage `json:"requestMetadata"`
		Ciphertext          *string         `json:"ciphertext"`
		CiphertextMetadata  *string         `json:"ciphertextMetadata"`
		EncryptionAlgorithm *string         `json:"encryptionAlgorithm"`
		AAD                 *string         `json:"additionalAuthenticatedData"`
		IV                  *string         `json:"initializationVector"`
		Tag                 *string         `json:"authenticationTag"`
	}
)

// The wire forms of the answers.
type (
	metadataResponse struct {
		KeySpec   string   `json:"keySpec"`
		KeyUsage  []string `json:"keyUsage"`
		KeyStatus string   `json:"keyStatus"`
	}
	encryptResponse struct {
		Ciphertext         string `json:"ciphertext"`
		CiphertextMetadata string `json:"ciphertextMetadata,omitempty"`
		IV                 string `json:"initializationVector"`
		Tag                string `json:"authenticationTag"`
		CDIV               string `json:"ciphertextDataIntegrityValue,omitempty"`
	}
	decryptResponse struct {
		Plaintext string `json:"plaintext"`
	}
	healthResponse struct {
		FleetSize  int          `json:"xksProxyFleetSize"`
		Vendor     string       `json:"xksProxyVendor"`
		Model      string       `json:"xksProxyModel"`
		EKMVendor  string       `json:"ekmVendor"`
		EKMDetails []healthNode `json:"ekmFleetDetails"`
	}
	healthNode struct {
		ID           string `json:"id"`
		Model        string `json:"model"`
		HealthStatus string `json:"healthStatus"`
	}
	errorResponse struct {
		ErrorName    string `json:"errorName"`
		ErrorMessage string `json:"errorMessage,omitempty"`
	}
)

// Which requestMetadata fields an operation requires.
type required struct{ principal, keyARN bool }

var (
	reqHealth   = required{}
	reqMetadata = required{principal: true}
	reqCrypto   = required{principal: true, keyARN: true}
)

// decodeStrict reads exactly one JSON object into dst: no unknown top-level
// fields, no trailing data, and requestMetadata present and complete.
func decodeStrict(body []byte, dst any, raw *json.RawMessage, req required) (RequestMetadata, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return RequestMetadata{}, invalid("malformed JSON request: " + jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return RequestMetadata{}, invalid("trailing data after the JSON request")
	}
	if len(*raw) == 0 || string(*raw) == "null" {
		return RequestMetadata{}, invalid("requestMetadata is required")
	}
	var md RequestMetadata
	if err := json.Unmarshal(*raw, &md); err != nil {
		return RequestMetadata{}, invalid("malformed requestMetadata: " + jsonReason(err))
	}
	switch {
	case md.KMSRequestID == "":
		return md, invalid("requestMetadata.kmsRequestId is required")
	case md.KMSOperation == "":
		return md, invalid("requestMetadata.kmsOperation is required")
	case req.principal && md.AWSPrincipalARN == "":
		return md, invalid("requestMetadata.awsPrincipalArn is required")
	case req.keyARN && md.KMSKeyARN == "":
		return md, invalid("requestMetadata.kmsKeyArn is required")
	}
	return md, nil
}

// jsonReason names what is wrong without echoing the request (which may
// hold plaintext) back.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error"
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	}
	return "not a JSON object"
}

// b64 decodes a required or optional standard-alphabet, padded Base64 field
// (RFC 4648 section 4, as the specification (1.0.3) says). Go's decoder skips
// CR and LF; a strict reader refuses them instead.
func b64(field string, v *string, need bool, max int, overIsInvalid bool) ([]byte, error) {
	if v == nil || *v == "" {
		if need {
			return nil, invalid(field + " is required")
		}
		return nil, nil
	}
	if strings.ContainsAny(*v, "\r\n") {
		return nil, invalid(field + " is not valid Base64")
	}
	if base64.StdEncoding.DecodedLen(len(*v)) > max+2 { // cheap bound before decoding
		if overIsInvalid {
			return nil, invalid(field + " is too long")
		}
		return nil, unsupported(field + " is longer than this proxy supports")
	}
	out, err := base64.StdEncoding.Strict().DecodeString(*v)
	if err != nil {
		return nil, invalid(field + " is not valid Base64")
	}
	if len(out) > max {
		if overIsInvalid {
			return nil, invalid(field + " is too long")
		}
		return nil, unsupported(field + " is longer than this proxy supports")
	}
	return out, nil
}

type encryptInput struct {
	md        RequestMetadata
	plaintext []byte
	aad       []byte
	cdiv      bool
}

func decodeEncrypt(body []byte) (encryptInput, error) {
	var req encryptRequest
	md, err := decodeStrict(body, &req, &req.RequestMetadata, reqCrypto)
	in := encryptInput{md: md}
	if err != nil {
		return in, err
	}
	if req.EncryptionAlgorithm == nil || *req.EncryptionAlgorithm != "AES_GCM" {
		return in, invalid("encryptionAlgorithm must be AES_GCM")
	}
	if req.CDIVAlgorithm != nil {
		if *req.CDIVAlgorithm != "SHA_256" {
			return in, invalid("ciphertextDataIntegrityValueAlgorithm must be SHA_256")
		}
		in.cdiv = true
	}
	if in.plaintext, err = b64("plaintext", req.Plaintext, true, MaxPlaintext, false); err != nil {
		return in, err
	}
	if in.aad, err = b64("additionalAuthenticatedData", req.AAD, false, MaxAAD, false); err != nil {
		return in, err
	}
	return in, nil
}

type decryptInput struct {
	md     RequestMetadata
	sealed Sealed
	aad    []byte
}

func decodeDecrypt(body []byte) (decryptInput, error) {
	var req decryptRequest
	md, err := decodeStrict(body, &req, &req.RequestMetadata, reqCrypto)
	in := decryptInput{md: md}
	if err != nil {
		return in, err
	}
	if req.EncryptionAlgorithm == nil || *req.EncryptionAlgorithm != "AES_GCM" {
		return in, invalid("encryptionAlgorithm must be AES_GCM")
	}
	s := &in.sealed
	if s.Ciphertext, err = b64("ciphertext", req.Ciphertext, true, MaxPlaintext, false); err != nil {
		return in, err
	}
	if s.IV, err = b64("initializationVector", req.IV, true, 64, true); err != nil {
		return in, err
	}
	if s.Tag, err = b64("authenticationTag", req.Tag, true, 64, true); err != nil {
		return in, err
	}
	if s.Metadata, err = b64("ciphertextMetadata", req.CiphertextMetadata, false, MaxCiphertextMetadata, true); err != nil {
		return in, err
	}
	if in.aad, err = b64("additionalAuthenticatedData", req.AAD, false, MaxAAD, false); err != nil {
		return in, err
	}
	// Well-formed but of a size AES-GCM never produced: the ciphertext is
	// invalid rather than the request.
	if len(s.IV) != 12 && len(s.IV) != 16 {
		return in, &Error{Name: InvalidCiphertext, Message: "initializationVector must be 12 or 16 bytes"}
	}
	if len(s.Tag) != tagSize {
		return in, &Error{Name: InvalidCiphertext, Message: "authenticationTag must be 16 bytes"}
	}
	return in, nil
}

func decodeMetadata(body []byte) (RequestMetadata, error) {
	var req metadataRequest
	return decodeStrict(body, &req, &req.RequestMetadata, reqMetadata)
}

func decodeHealth(body []byte) (RequestMetadata, error) {
	var req metadataRequest
	return decodeStrict(body, &req, &req.RequestMetadata, reqHealth)
}
