package main

import "path/filepath"

// config is everything the binary reads from its environment.
type config struct {
	DatabaseURL   string
	Addr          string
	DataDir       string
	AdminEmail    string
	AdminPassword string
}

func loadConfig(getenv func(string) string) config {
	c := config{
		DatabaseURL:   getenv("DATABASE_URL"),
		Addr:          getenv("ASSETANCHOR_ADDR"),
		DataDir:       getenv("ASSETANCHOR_DATA_DIR"),
		AdminEmail:    getenv("ASSETANCHOR_ADMIN_EMAIL"),
		AdminPassword: getenv("ASSETANCHOR_ADMIN_PASSWORD"),
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = ".assetanchor"
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	return c
}
