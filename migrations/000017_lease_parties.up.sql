-- Several tenants on one lease (docs/rent.md, "Several tenants on one lease";
-- docs/schema.md). A lease's parties, written by the relational projection from
-- LeaseSigned (its tenant_id, the primary, and co_tenant_ids), LeaseTenantAdded,
-- LeaseTenantRemoved and LeasePrimaryTenantChanged. leases.tenant_id stays the
-- primary, as the seed's queries select it. A removed party keeps its row, with
-- removed_at: a lease that named a tenant once keeps naming it in its history.
CREATE TABLE lease_tenants (
    lease_id   UUID NOT NULL REFERENCES leases(id),
    tenant_id  UUID NOT NULL REFERENCES tenants(id),
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    added_at   TIMESTAMP NOT NULL,
    removed_at TIMESTAMP,
    -- The order the parties joined in (1 for the first signatory; a party that
    -- joins again goes last), which the API lists them in after the primary.
    position   INTEGER NOT NULL CHECK (position >= 1),
    PRIMARY KEY (lease_id, tenant_id),
    CONSTRAINT lease_tenants_primary_not_removed CHECK (NOT (is_primary AND removed_at IS NOT NULL))
);
-- A tenant's leases, as a party (visibility across owners, GET /leases?tenant_id=).
CREATE INDEX idx_lease_tenants_tenant ON lease_tenants (tenant_id);
-- One primary per lease.
CREATE UNIQUE INDEX lease_tenants_one_primary ON lease_tenants (lease_id) WHERE is_primary;

-- Every lease signed so far has its tenant as its only party: the row its
-- LeaseSigned projects (added when the lease was signed).
INSERT INTO lease_tenants (lease_id, tenant_id, is_primary, added_at, position)
SELECT id, tenant_id, TRUE, created_at, 1 FROM leases;

-- Row-level security (000005): a lease's parties are visible with the lease.
GRANT SELECT ON lease_tenants TO assetanchor_reader;
ALTER TABLE lease_tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY lease_tenants_visible ON lease_tenants FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR lease_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id)));

-- Tenants across owners (000015, domain/visibility.go): a tenant another account
-- registered is seen at contact level by the owner of a property whose lease
-- (any status) names it as a party, the primary or another, now or before.
CREATE OR REPLACE FUNCTION app_leased_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT lt.tenant_id FROM lease_tenants lt JOIN leases l ON l.id = lt.lease_id
          JOIN properties p ON p.id = l.property_id WHERE p.owner_id = app_viewer_id() $$;
