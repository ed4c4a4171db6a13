DROP POLICY audit_logs_visible ON audit_logs;
CREATE POLICY audit_logs_visible ON audit_logs FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_role()) = 'admin' OR CASE entity_type
        WHEN 'document' THEN entity_id IN (SELECT f.id FROM app_visible_document_ids() AS f(id))
        ELSE (SELECT app_viewer_sees_all()) OR CASE entity_type
            WHEN 'property' THEN entity_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id))
            WHEN 'lease' THEN entity_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id))
            WHEN 'transaction' THEN entity_id IN (SELECT f.id FROM app_owned_transaction_ids() AS f(id))
            WHEN 'maintenance_request' THEN entity_id IN (SELECT f.id FROM app_visible_maintenance_ids() AS f(id))
            WHEN 'tenant' THEN entity_id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id))
            WHEN 'user' THEN entity_id = (SELECT app_viewer_id())
            WHEN 'session' THEN entity_id IN (SELECT f.id FROM app_own_session_ids() AS f(id))
            ELSE FALSE END
        END);
