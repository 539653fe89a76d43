package provider_test

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

type bare struct{ provider.Provider }

type described struct{ provider.Provider }

func (described) Capabilities() provider.Capabilities {
	return provider.Capabilities{Guardrails: []string{"endpoint_regions"}, Inventory: []string{"x"}, Transfer: false}
}

// A driver without Inventory reads nothing, whatever it says.
type describedNoInventory struct{ provider.Provider }

func (describedNoInventory) Capabilities() provider.Capabilities {
	return provider.Capabilities{Inventory: []string{"x"}}
}

func TestCapabilitiesOf(t *testing.T) {
	t.Parallel()
	c := provider.CapabilitiesOf(bare{})
	if !c.Transfer || !c.Close || c.ExternalKeys || len(c.Guardrails) != 0 || c.Guardrails == nil || c.Inventory == nil || len(c.Inventory) != 0 {
		t.Errorf("a bare driver: %+v", c)
	}
	c = provider.CapabilitiesOf(described{})
	if !c.Transfer || len(c.Guardrails) != 1 || len(c.Inventory) != 0 {
		t.Errorf("a described driver without Inventory: %+v (every driver transfers; no Inventory, no inventory)", c)
	}
	if c := provider.CapabilitiesOf(describedNoInventory{}); len(c.Inventory) != 0 {
		t.Errorf("inventory without the capability: %+v", c)
	}
}
