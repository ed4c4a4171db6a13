package commands

import (
	"context"
	"encoding/json"

	"github.com/assetanchor/assetanchor/domain"
)

// LateFeePolicyInput is a late-fee policy as the client sent it: amounts stay raw,
// so that every bad value comes back as a field error.
type LateFeePolicyInput struct {
	GraceDays  *int
	FlatAmount *json.Number // a JSON string or number, parsed exactly
	Percent    *json.Number
	MonthlyCap *json.Number
}

// parse reads the input; what cannot be parsed is collected in f.
func (in LateFeePolicyInput) parse(f *inputFields) domain.LateFeePolicy {
	var p domain.LateFeePolicy
	if in.GraceDays == nil {
		f.Add("grace_days", "is required")
	} else {
		p.GraceDays = *in.GraceDays
	}
	p.FlatAmount = f.optionalMoney("flat_amount", in.FlatAmount)
	p.MonthlyCap = f.optionalMoney("monthly_cap", in.MonthlyCap)
	if in.Percent != nil {
		d, err := domain.ParseDecimal(in.Percent.String())
		if err != nil {
			f.Add("percent", err.Error())
		} else {
			p.Percent = &d
		}
	}
	return p
}

// SetPropertyLateFeePolicy sets (replaces) a property's late-fee policy.
type SetPropertyLateFeePolicy struct {
	Target
	Policy LateFeePolicyInput
}

// SetLateFeePolicy handles SetPropertyLateFeePolicy for anyone who sees the
// property. The same policy again writes nothing.
func (h *Properties) SetLateFeePolicy(ctx context.Context, cmd SetPropertyLateFeePolicy) (Result, error) {
	ctx = withCommand(ctx, "SetPropertyLateFeePolicy")
	return updateProperty(ctx, h.store, cmd.Target, setLateFeePolicy[*domain.Property](cmd.Policy))
}

// SetLeaseLateFeePolicy sets (replaces) a lease's own late-fee policy, which
// overrides its property's.
type SetLeaseLateFeePolicy struct {
	Target
	Policy LateFeePolicyInput
}

// SetLateFeePolicy handles SetLeaseLateFeePolicy for anyone who sees the lease's
// property. The same policy again writes nothing.
func (h *Leases) SetLateFeePolicy(ctx context.Context, cmd SetLeaseLateFeePolicy) (Result, error) {
	ctx = withCommand(ctx, "SetLeaseLateFeePolicy")
	return update(ctx, h.store, leaseStream(cmd.ID), cmd.IfMatch, newLease,
		leaseOnVisibleProperty(ctx, h.store, cmd.Actor), setLateFeePolicy[*domain.Lease](cmd.Policy))
}

// setLateFeePolicy is the decide step of both commands: the policy parsed before
// the entity is loaded, its field errors joined to the domain's.
func setLateFeePolicy[A interface {
	SetLateFeePolicy(domain.LateFeePolicy) ([]domain.Event, error)
}](in LateFeePolicyInput) func(A) ([]domain.Event, error) {
	var f inputFields
	policy := in.parse(&f)
	return func(a A) ([]domain.Event, error) { return f.decided(a.SetLateFeePolicy(policy)) }
}
