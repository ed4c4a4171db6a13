package main

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/assetanchor/assetanchor/http"
)

func TestEdgeConfig(t *testing.T) {
	env := map[string]string{
		"ASSETANCHOR_CORS_ORIGINS":    " https://app.example.com, http://localhost:5173 ,",
		"ASSETANCHOR_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,2001:db8::/32",
		"ASSETANCHOR_METRICS_ADDR":    "127.0.0.1:9090",
	}
	var d http.Deps
	if err := loadConfig(func(k string) string { return env[k] }).edge(&d); err != nil {
		t.Fatal(err)
	}
	if got, want := d.CORSOrigins, []string{"https://app.example.com", "http://localhost:5173"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CORSOrigins = %q, want %q", got, want)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if !reflect.DeepEqual(d.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %v, want %v", d.TrustedProxies, want)
	}
	if d.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("MetricsAddr = %q", d.MetricsAddr)
	}

	var unset http.Deps
	if err := loadConfig(func(string) string { return "" }).edge(&unset); err != nil || unset.CORSOrigins != nil ||
		unset.TrustedProxies != nil || unset.MetricsAddr != "" {
		t.Errorf("unset: %+v, %v; want no CORS, no trusted proxies, no metrics address", unset, err)
	}

	for name, bad := range map[string]map[string]string{
		"origin with a path": {"ASSETANCHOR_CORS_ORIGINS": "https://app.example.com/"},
		"bare host":          {"ASSETANCHOR_CORS_ORIGINS": "app.example.com"},
		"wildcard":           {"ASSETANCHOR_CORS_ORIGINS": "*"},
		"proxy not a CIDR":   {"ASSETANCHOR_TRUSTED_PROXIES": "10.0.0.0/33"},
		"proxy a name":       {"ASSETANCHOR_TRUSTED_PROXIES": "proxy.internal"},
	} {
		var d http.Deps
		err := loadConfig(func(k string) string { return bad[k] }).edge(&d)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%s: err = %v, want a usage error naming the variable", name, err)
		}
	}
}
