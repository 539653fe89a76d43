package aws

import _ "embed" // IAMPolicy

// IAMPolicy is the least-privilege IAM policy (JSON) of the role hatoba's
// AWS connection uses in the management account: exactly the actions the
// driver calls, and the ones AWS requires alongside them (docs/aws.md).
// A test derives the calls from the driver's code and from a recorded run
// against the simulated cloud, so a new call without its line here fails.
//
//go:embed iampolicy.json
var IAMPolicy string
