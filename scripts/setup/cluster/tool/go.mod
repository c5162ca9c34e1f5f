module claude-bottle.local/cb-k8s-tool

go 1.24
