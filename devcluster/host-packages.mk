# The Debian packages the project needs on the host, and what it runs from each: a makefile
# the Makefile includes (`make setup` installs every package named here) and
# devcluster/host_tools.py reads (`python -m devcluster.preflight`, the first step of
# `make run` and `make test`, and every check for a tool), so a tool the code asks for that
# this list does not install is an error a unit test catches.
#
# HOST_PACKAGES += <package>   # the commands on PATH, or absolute paths, used from it
HOST_PACKAGES += runc                         # runc
HOST_PACKAGES += containernetworking-plugins  # /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback
HOST_PACKAGES += nftables                     # nft
HOST_PACKAGES += iptables                     # iptables ip6tables
HOST_PACKAGES += conntrack                    # conntrack
HOST_PACKAGES += iproute2                     # ip
HOST_PACKAGES += mount                        # mount umount
HOST_PACKAGES += buildah                      # buildah
HOST_PACKAGES += skopeo                       # skopeo
HOST_PACKAGES += mmdebstrap                   # mmdebstrap
HOST_PACKAGES += gcc                          # gcc
HOST_PACKAGES += libc6-dev                    # /usr/include/stdio.h
HOST_PACKAGES += binutils                     # strip
HOST_PACKAGES += ca-certificates              # /etc/ssl/certs/ca-certificates.crt
HOST_PACKAGES += qemu-user-static             # qemu-aarch64-static
HOST_PACKAGES += binfmt-support               # update-binfmts
HOST_PACKAGES += arch-test                    # arch-test
HOST_PACKAGES += shellcheck                   # shellcheck
HOST_PACKAGES += wrk                          # wrk
