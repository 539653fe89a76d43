// Package portability judges an environment's exit readiness: how much of
// what runs in it would move to another provider as it is. Each service in
// the environment's inventory is portable (an interface many providers and
// on-premises clouds implement: virtual machines, block and file storage,
// S3-API object storage, PostgreSQL and MySQL engines, Kubernetes, Redis),
// proprietary (one provider's own service, which a move must rebuild:
// DynamoDB, Lambda, SQS, Aurora …) or platform plumbing that every cloud
// has in its own form and that carries no workload (IAM, keys, networks,
// audit trails), left out of the score. A type hatoba does not know is
// listed for review, also outside the score.
package portability

import (
	"sort"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// Class is how a service moves.
type Class string

const (
	Portable    Class = "portable"
	Proprietary Class = "proprietary"
	Plumbing    Class = "plumbing"
	Unknown     Class = "unknown"
)

// Service is one kind of resource in an environment.
type Service struct {
	Type  string // the inventory's resource type (Terraform's name)
	Class Class
	// Kind names the service for people ("virtual-machine", "key-value"):
	// the console's catalogue turns it into words.
	Kind  string
	Count int
}

// Readiness is an environment's exit readiness.
type Readiness struct {
	Services []Service
	// Portable and Proprietary count resources; Score is the portable share
	// of them in percent (100 for an environment with neither).
	Portable, Proprietary int
	Score                 float64
	// Rework are the proprietary services, most resources first: what a
	// move would have to rebuild.
	Rework []Service
}

type rule struct {
	class Class
	kind  string
}

// types classifies the inventory's resource types.
var types = map[string]rule{
	"aws_instance":                      {Portable, "virtual-machine"},
	"aws_launch_template":               {Portable, "virtual-machine"},
	"aws_autoscaling_group":             {Portable, "virtual-machine"},
	"aws_ebs_volume":                    {Portable, "block-storage"},
	"aws_efs_file_system":               {Portable, "file-storage"},
	"aws_s3_bucket":                     {Portable, "object-storage"},
	"aws_eks_cluster":                   {Portable, "kubernetes"},
	"aws_eks_node_group":                {Portable, "kubernetes"},
	"aws_elasticache_cluster":           {Portable, "redis"},
	"aws_lb":                            {Portable, "load-balancer"},
	"aws_dynamodb_table":                {Proprietary, "key-value"},
	"aws_lambda_function":               {Proprietary, "functions"},
	"aws_sqs_queue":                     {Proprietary, "queue"},
	"aws_sns_topic":                     {Proprietary, "notification"},
	"aws_kinesis_stream":                {Proprietary, "stream"},
	"aws_sfn_state_machine":             {Proprietary, "workflow"},
	"aws_api_gateway_rest_api":          {Proprietary, "api-gateway"},
	"aws_apigatewayv2_api":              {Proprietary, "api-gateway"},
	"aws_cognito_user_pool":             {Proprietary, "identity"},
	"aws_redshift_cluster":              {Proprietary, "warehouse"},
	"aws_iam_user":                      {Plumbing, "identity"},
	"aws_iam_role":                      {Plumbing, "identity"},
	"aws_iam_policy":                    {Plumbing, "identity"},
	"aws_root_account":                  {Plumbing, "identity"},
	"aws_kms_key":                       {Plumbing, "keys"},
	"aws_security_group":                {Plumbing, "network"},
	"aws_vpc":                           {Plumbing, "network"},
	"aws_subnet":                        {Plumbing, "network"},
	"aws_cloudtrail":                    {Plumbing, "audit"},
	"aws_config_configuration_recorder": {Plumbing, "audit"},
}

// portableEngines are the database engines other clouds and on-premises
// run as they are; Aurora and the rest need rework.
var portableEngines = []string{"postgres", "mysql", "mariadb"}

// classify judges one resource.
func classify(r controls.Resource) rule {
	switch r.Type {
	case "aws_db_instance", "aws_rds_cluster":
		engine, _ := r.Config["engine"].(string)
		for _, e := range portableEngines {
			if engine == e {
				return rule{Portable, "database-" + e}
			}
		}
		if engine == "" {
			return rule{Unknown, "database"}
		}
		return rule{Proprietary, "database-other"}
	}
	if ru, ok := types[r.Type]; ok {
		return ru
	}
	if strings.HasPrefix(r.Type, "aws_s3_bucket_") || strings.HasPrefix(r.Type, "aws_iam_") {
		return rule{Plumbing, "configuration"} // a bucket's or identity's companion settings
	}
	return rule{Unknown, ""}
}

// Assess judges an environment's inventory.
func Assess(resources []controls.Resource) Readiness {
	byKey := map[[2]string]*Service{}
	var out Readiness
	for _, r := range resources {
		ru := classify(r)
		k := [2]string{r.Type, ru.kind}
		s, ok := byKey[k]
		if !ok {
			s = &Service{Type: r.Type, Class: ru.class, Kind: ru.kind}
			byKey[k] = s
		}
		s.Count++
		switch ru.class {
		case Portable:
			out.Portable++
		case Proprietary:
			out.Proprietary++
		}
	}
	for _, s := range byKey {
		out.Services = append(out.Services, *s)
		if s.Class == Proprietary {
			out.Rework = append(out.Rework, *s)
		}
	}
	order := map[Class]int{Proprietary: 0, Unknown: 1, Portable: 2, Plumbing: 3}
	sort.Slice(out.Services, func(i, j int) bool {
		a, b := out.Services[i], out.Services[j]
		if order[a.Class] != order[b.Class] {
			return order[a.Class] < order[b.Class]
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Type+a.Kind < b.Type+b.Kind
	})
	sort.Slice(out.Rework, func(i, j int) bool {
		if out.Rework[i].Count != out.Rework[j].Count {
			return out.Rework[i].Count > out.Rework[j].Count
		}
		return out.Rework[i].Type < out.Rework[j].Type
	})
	out.Score = 100
	if n := out.Portable + out.Proprietary; n > 0 {
		out.Score = float64(out.Portable) * 100 / float64(n)
	}
	return out
}
