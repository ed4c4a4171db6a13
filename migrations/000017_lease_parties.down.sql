CREATE OR REPLACE FUNCTION app_leased_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT l.tenant_id FROM leases l JOIN properties p ON p.id = l.property_id
          WHERE p.owner_id = app_viewer_id() $$;

DROP TABLE lease_tenants;
