package simcloud

import "testing"

// BenchmarkValidateInput is the model check every request pays: a
// CreateAccount and a CreateUser, the largest inputs of a vending.
func BenchmarkValidateInput(b *testing.B) {
	inputs := []struct{ signing, op, body string }{
		{"organizations", "CreateAccount", `{"AccountName":"tokyo-tax-prod","Email":"cloud+env1@sim.hatoba.invalid","IamUserAccessToBilling":"DENY"}`},
		{"identitystore", "CreateUser", `{"IdentityStoreId":"d-1234567890","UserName":"p-taro","DisplayName":"山田 太郎","Name":{"Formatted":"山田 太郎","FamilyName":"山田","GivenName":"太郎"},"Emails":[{"Value":"yamada@city.example.lg.jp","Type":"work","Primary":true}]}`},
	}
	if _, err := loadModels(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range inputs {
			if v := validateInput(in.signing, in.op, []byte(in.body), nil); v != nil {
				b.Fatalf("%s: %+v", in.op, v)
			}
		}
	}
}
