# Lab web server: the agent image's node, run as root to bind 80/443, with a
# certificate for every lab name made at build time.
FROM claude-bottle:latest
USER root
RUN mkdir /lab && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/CN=lab" -keyout /lab/key.pem -out /lab/cert.pem \
      -addext "subjectAltName=DNS:allowed.test,DNS:blocked.test,DNS:api.lab.test,DNS:evil.test,DNS:evilallowed.test" \
      2>/dev/null
COPY server.js /lab/server.js
CMD ["node", "/lab/server.js"]
