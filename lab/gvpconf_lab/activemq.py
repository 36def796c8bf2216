"""ActiveMQ Classic as a real peer: the Reporting Server's message broker.

Runs ``activemq.jar`` directly with its own configuration directory (no systemd, no init script), configured
as Debian ships it (``/etc/activemq/instances-available/main/activemq.xml``: one ``tcp://`` OpenWire
connector, KahaDB persistence, JMX off), changed only where a GVP deployment changes it: the listening
address and port, and a login (no anonymous access, one user ``gvp-rs`` with a random password). Where a
test needs STOMP, a separate ``stomp://`` connector on its own port (``stomp_port``); ``jmx_port`` turns on
JMX with a connector on that port, for tests that read the broker's own statistics.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import quoteattr

from gvpconf_lab.base import LOOPBACK, Peer

ACTIVEMQ_HOME = Path("/usr/share/activemq")
ACTIVEMQ_JAR = ACTIVEMQ_HOME / "bin" / "activemq.jar"

_BROKER_XML = """\
<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans
         http://www.springframework.org/schema/beans/spring-beans.xsd
         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx={use_jmx} brokerName="localhost"
          dataDirectory={data}>{management}
    <persistenceAdapter>
      <kahaDB directory={kahadb}/>
    </persistenceAdapter>
    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="false">
        <users>
          <authenticationUser username={username} password={password} groups="users,admins"/>
        </users>
      </simpleAuthenticationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="openwire" uri={uri}/>{stomp}
    </transportConnectors>
  </broker>
</beans>
"""

_LOG4J = """\
log4j.rootLogger=INFO, logfile
log4j.logger.org.apache.activemq.spring=WARN
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.logfile=org.apache.log4j.FileAppender
log4j.appender.logfile.file={log}
log4j.appender.logfile.append=true
log4j.appender.logfile.layout=org.apache.log4j.PatternLayout
log4j.appender.logfile.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
"""

_ADD_OPENS = ("java.base/java.lang", "java.base/java.util", "java.base/java.util.concurrent",
              "java.base/java.net")


_MANAGEMENT = """
    <managementContext>
      <managementContext createConnector="true" connectorHost="{host}" connectorPort="{port}"/>
    </managementContext>"""


def openwire_hello(host: str, port: int, timeout: float) -> bytes:
    """The first 13 bytes a ``tcp://`` OpenWire connector sends unasked: size, type 1, magic ``ActiveMQ``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        data = b""
        while len(data) < 13:
            chunk = sock.recv(13 - len(data))
            if not chunk:
                break
            data += chunk
    return data


def stomp_connect(host: str, port: int, login: str, passcode: str, timeout: float) -> bytes:
    """Send a STOMP 1.2 CONNECT and return the first frame the broker answers (up to its NUL)."""
    frame = f"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:{login}\npasscode:{passcode}\n\n\0".encode()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(frame)
        data = b""
        while b"\0" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\0", 1)[0]


class ActiveMQPeer(Peer):
    kind: ClassVar[str] = "activemq"
    default_ready_deadline_s: ClassVar[float] = 60.0
    poll_interval_s: ClassVar[float] = 0.2

    def __init__(self, name: str, workdir: Path, port: int, host: str = LOOPBACK, username: str = "gvp-rs",
                 password: str | None = None, heap_mb: int = 256, stomp_port: int | None = None,
                 jmx_port: int | None = None) -> None:
        super().__init__(name, workdir, port, host)
        self.stomp_port = stomp_port
        self.jmx_port = jmx_port
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.heap_mb = heap_mb
        self.conf_dir = self.workdir / "conf"
        self.data_dir = self.workdir / "data"

    def prepare(self) -> None:
        if not ACTIVEMQ_JAR.exists():
            raise self.error(f"{ACTIVEMQ_JAR} not found (install the 'activemq' package: "
                             "python -m gvpconf_lab install)")
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stomp = ("" if self.stomp_port is None else "\n      <transportConnector name=\"stomp\" uri="
                 f"{quoteattr(f'stomp://{self.host}:{self.stomp_port}')}/>")
        management = "" if self.jmx_port is None else _MANAGEMENT.format(host=self.host, port=self.jmx_port)
        xml = _BROKER_XML.format(username=quoteattr(self.username), password=quoteattr(self.password),
                                 uri=quoteattr(f"tcp://{self.host}:{self.port}"), stomp=stomp,
                                 use_jmx=quoteattr(str(self.jmx_port is not None).lower()), management=management,
                                 data=quoteattr(str(self.data_dir)), kahadb=quoteattr(str(self.data_dir / "kahadb")))
        conf = self.conf_dir / "activemq.xml"
        conf.write_text(xml)
        conf.chmod(0o600)  # holds the password
        (self.conf_dir / "log4j.properties").write_text(_LOG4J.format(log=self.log_path))

    def command(self) -> Sequence[str]:
        opens = [arg for mod in _ADD_OPENS for arg in ("--add-opens", f"{mod}=ALL-UNNAMED")]
        return ["java", "-Xms64m", f"-Xmx{self.heap_mb}m", *opens,
                f"-Dactivemq.home={ACTIVEMQ_HOME}", f"-Dactivemq.base={self.workdir}",
                f"-Dactivemq.conf={self.conf_dir}", f"-Dactivemq.data={self.data_dir}",
                f"-Dactivemq.classpath={self.conf_dir}",
                "-jar", str(ACTIVEMQ_JAR), "start", f"xbean:file:{self.conf_dir / 'activemq.xml'}"]

    def probe(self, timeout: float) -> None:
        hello = openwire_hello(self.host, self.port, timeout)
        if hello[4:13] != b"\x01ActiveMQ":
            raise ConnectionError(f"the OpenWire connector sent {hello!r}, not a WireFormatInfo")
        if self.stomp_port is not None:
            frame = stomp_connect(self.host, self.stomp_port, self.username, self.password, timeout)
            if not frame.startswith(b"CONNECTED\n"):
                raise ConnectionError(f"STOMP CONNECT answered {frame[:200]!r}")

    def summary(self) -> str:
        stomp = f", STOMP on {self.stomp_port}" if self.stomp_port is not None else ""
        return f"ActiveMQ Classic broker (tcp:// OpenWire{stomp}; user {self.username})"
