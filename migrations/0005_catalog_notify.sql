-- +migrate Up
-- Every write to the catalog tables notifies channel smplat_catalog when its
-- transaction commits, so each API process can drop its cached product
-- graphs (graph/cache.go). Statement-level: one notification per statement,
-- and Postgres folds identical notifications of one transaction into one.

-- +migrate StatementBegin
CREATE FUNCTION notify_catalog_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smplat_catalog', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
-- +migrate StatementEnd

CREATE TRIGGER products_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER product_option_groups_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_option_groups
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER product_options_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_options
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER product_add_ons_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_add_ons
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER product_custom_fields_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_custom_fields
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER product_subscription_plans_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_subscription_plans
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();

-- +migrate Down
DROP TRIGGER product_subscription_plans_notify ON product_subscription_plans;
DROP TRIGGER product_custom_fields_notify ON product_custom_fields;
DROP TRIGGER product_add_ons_notify ON product_add_ons;
DROP TRIGGER product_options_notify ON product_options;
DROP TRIGGER product_option_groups_notify ON product_option_groups;
DROP TRIGGER products_notify ON products;
DROP FUNCTION notify_catalog_change();
