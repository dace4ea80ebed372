-- client-proxy (docs/jitsi.md): for docker-jitsi-meet's Prosody, which searches its custom
-- plugins (/prosody-plugins-custom) first, this file stands in for Jitsi's mod_client_proxy.
-- The generated config still declares Component "focus.<domain>" "client_proxy"; with this file
-- that component is an external one (XEP-0114), which client-proxy connects to with the
-- component_secret set through GLOBAL_CONFIG. Remove the file to go back to Jitsi's module.
if not module:get_option_string("component_secret") then
	module:log("error", "no component_secret: client-proxy cannot connect (see GLOBAL_CONFIG in client-proxy.yml), or remove %s to use Jitsi's module", module.path or "mod_client_proxy.lua");
end
module:depends("component");
