"""ActiveMQ Classic as a real peer: the Reporting Server's message broker.

Runs ``activemq.jar`` directly with its own configuration directory (no systemd, no init script),
one ``auto://`` connector that accepts OpenWire and STOMP on one port, no anonymous access and
one user ``gvp-rs`` with a random password.
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
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" persistent="false"
          brokerName="gvpconf-lab">
    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="false">
        <users>
          <authenticationUser username={username} password={password} groups="users,admins"/>
        </users>
      </simpleAuthenticationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="auto" uri={uri}/>
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
                 password: str | None = None, heap_mb: int = 256) -> None:
        super().__init__(name, workdir, port, host)
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
        uri = f"auto://{self.host}:{self.port}"
        xml = _BROKER_XML.format(username=quoteattr(self.username), password=quoteattr(self.password),
                                 uri=quoteattr(uri))
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
        frame = stomp_connect(self.host, self.port, self.username, self.password, timeout)
        if not frame.startswith(b"CONNECTED\n"):
            raise ConnectionError(f"STOMP CONNECT answered {frame[:200]!r}")

    def summary(self) -> str:
        return f"ActiveMQ Classic broker (auto transport: STOMP + OpenWire; user {self.username})"
