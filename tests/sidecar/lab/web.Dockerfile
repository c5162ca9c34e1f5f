# Lab web server: the agent image's node, run as root to bind 80/443, with a
# certificate for every lab name made at build time, and one bare repository
# git.lab.test serves over smart HTTP (server.js) to a client with the lab's token.
FROM claude-bottle:latest
USER root
RUN mkdir /lab && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/CN=lab" -keyout /lab/key.pem -out /lab/cert.pem \
      -addext "subjectAltName=DNS:allowed.test,DNS:blocked.test,DNS:api.lab.test,DNS:evil.test,DNS:evilallowed.test,DNS:git.lab.test" \
      2>/dev/null \
 && git init -q --bare /lab/git/repo.git && git -C /lab/git/repo.git config http.receivepack true \
 && tmp=$(mktemp -d) && git -C "$tmp" init -q && echo "lab repository over https" > "$tmp/README" \
 && git -C "$tmp" add README && git -C "$tmp" -c user.name=lab -c user.email=lab@lab.test commit -qm "lab commit" \
 && git -C "$tmp" push -q /lab/git/repo.git HEAD:refs/heads/main && rm -rf "$tmp" \
 && git --git-dir=/lab/git/repo.git symbolic-ref HEAD refs/heads/main
COPY server.js /lab/server.js
CMD ["node", "/lab/server.js"]
