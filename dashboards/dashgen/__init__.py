"""Builds the Grafana dashboards, alert rules and provisioning files shipped in ``dashboards/``.

Everything here is generator code: the artifacts it writes are committed and shipped, this
package is not (users never need grafana-foundation-sdk to use the dashboards).
"""
