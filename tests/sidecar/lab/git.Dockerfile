# Lab git server over ssh: user git with git-shell and one bare repository.
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openssh-server git && rm -rf /var/lib/apt/lists/* \
 && useradd -m -s /usr/bin/git-shell git && mkdir -p /run/sshd /home/git/.ssh \
 && git init -q --bare /home/git/repo.git \
 && tmp=$(mktemp -d) && git -C "$tmp" init -q && echo "lab repository" > "$tmp/README" \
 && git -C "$tmp" add README && git -C "$tmp" -c user.name=lab -c user.email=lab@lab.test commit -qm "lab commit" \
 && git -C "$tmp" push -q /home/git/repo.git HEAD:refs/heads/main && rm -rf "$tmp" \
 && git --git-dir=/home/git/repo.git symbolic-ref HEAD refs/heads/main \
 && chown -R git:git /home/git && ssh-keygen -A
CMD ["sh", "-c", "printf '%s\\n' \"$AUTHORIZED_KEY\" > /home/git/.ssh/authorized_keys && chown -R git:git /home/git/.ssh && chmod 600 /home/git/.ssh/authorized_keys && exec /usr/sbin/sshd -D -e -o AllowTcpForwarding=no -o AllowStreamLocalForwarding=no -o PermitTunnel=no -o X11Forwarding=no"]
