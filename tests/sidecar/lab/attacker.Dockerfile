# The red team's agent image: the real agent image plus the tools an agent
# could bring or build itself (ip, dig, ping, python3). Also the lab's DNS
# server and the control client that shows each lab target answers.
FROM claude-bottle:latest
USER root
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 dnsutils iputils-ping python3 openssl && rm -rf /var/lib/apt/lists/*
COPY dns.py /lab/dns.py
USER node
