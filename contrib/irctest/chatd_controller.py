"""irctest controller for chatd (docs/irc.md, "Conformance").

It writes a config into the test's temporary directory (a SQLite file,
argon2 at test cost, the IRC listener on the host and port irctest gives,
guests on, the server password and REGISTER before connect when the test
asks for them), starts `chatd serve` (with CHATD_FAKETIME when the test case asks for a
faked clock), and registers accounts with `chatd useradd`. The chatd binary is $CHATD_BIN, else `chatd` on PATH.
"""

import json
import os
import subprocess
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities

CONFIG = """
[server]
listen = "{plain}"
banner = "chatd under irctest"
max_connections_per_ip = 1000
max_line_bytes = 8192
{tls_pair}

[database]
path = "{db}"

[accounts]
# IRC nicks: letters, digits and []\\`_^{{|}}- (chatd folds case as ASCII
# for ASCII names).
username_pattern = '^[A-Za-z\\[\\]\\\\`_^{{|}}][A-Za-z0-9\\[\\]\\\\`_^{{|}}-]{{0,31}}$'
min_password_length = 1
# REGISTER (draft/account-registration) turns a guest into an account.
registration = "open"
duplicate_login = "multi"
max_sessions = 20

[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1

[rate]
lines_per_second = 1000
burst = 1000

[log]
level = "warn"

[irc]
{irc_listen}
guests = true
server_name = "My.Little.Server"
register_before_connect = {before_connect}
{irc_password}
"""


def chatd_bin() -> str:
    return os.environ.get("CHATD_BIN", "chatd")


class ChatdController(BaseServerController, DirectoryBasedController):
    software_name = "chatd"
    supported_sasl_mechanisms: Set[str] = {"PLAIN"}
    supports_sts = False
    # Rooms mute with the extban m:mask (EXTBAN=,am).
    extban_mute_char = "m"
    _port_wait_interval = 0.05
    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.SERVER_TIME,
        )
    )

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        (plain_host, plain_port) = self.get_hostname_and_port()
        assert self.directory
        tls_pair = ""
        irc_listen = f'listen = "{hostname}:{port}"'
        if ssl:
            self.gen_ssl()
            tls_pair = f'tls_cert = "{self.pem_path}"\ntls_key = "{self.key_path}"'
            (h, p) = self.get_hostname_and_port()
            irc_listen = f'listen = "{h}:{p}"\ntls_listen = "{hostname}:{port}"'
        self.config_path = self.directory / "chatd.toml"
        with self.open_file("chatd.toml") as fd:
            fd.write(
                CONFIG.format(
                    plain=f"{plain_host}:{plain_port}",
                    db=self.directory / "chatd.db",
                    tls_pair=tls_pair,
                    irc_listen=irc_listen,
                    # REGISTER before connect, as the test case asks.
                    before_connect=(
                        "true"
                        if self.test_config.account_registration_before_connect
                        else "false"
                    ),
                    # A JSON string is a TOML basic string.
                    irc_password=(
                        f"password = {json.dumps(password)}"
                        if password is not None
                        else ""
                    ),
                )
            )
        # libfaketime cannot move a static Go binary's clock: chatd runs
        # its own from CHATD_FAKETIME, which takes the same forms.
        env = dict(os.environ)
        env.pop("CHATD_FAKETIME", None)
        if faketime:
            env["CHATD_FAKETIME"] = faketime
            self.faketime_enabled = True
        self.proc = self.execute(
            [chatd_bin(), "serve", "-config", str(self.config_path)], env=env
        )
        # OPER operuser operpassword: OPER takes a server admin's account.
        self._useradd("operuser", "operpassword", admin=True)

    def wait_for_services(self) -> None:
        # Accounts live in chatd itself: there are no services to wait for.
        pass

    def registerUser(
        self,
        case,  # irctest.cases.BaseServerTestCase
        username: str,
        password: Optional[str] = None,
    ) -> None:
        self._useradd(username, password or "password")

    def _useradd(self, username: str, password: str, admin: bool = False) -> None:
        self.wait_for_port()  # chatd serve has made the database
        flags = ["-admin"] if admin else []
        done = subprocess.run(
            [chatd_bin(), "useradd", "-config", str(self.config_path), *flags, username],
            input=password + "\n",
            text=True,
            capture_output=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"chatd useradd {username}: {done.stderr.strip()}")


def get_irctest_controller_class() -> Type[ChatdController]:
    return ChatdController
