"""A small IRC bot on python3-irc (the Debian package), for chatd's tests:
it logs in with PASS account:password, joins a channel and answers
"!hello" there with "hello, NICK", and "!quit" from its owner by leaving.

Usage: bot.py HOST PORT NICK PASSWORD CHANNEL OWNER
"""

import sys

import irc.bot


class Bot(irc.bot.SingleServerIRCBot):
    def __init__(self, host, port, nick, password, channel, owner):
        super().__init__([irc.bot.ServerSpec(host, port, nick + ":" + password)], nick, nick)
        self.channel, self.owner = channel, owner

    def on_welcome(self, conn, event):
        conn.join(self.channel)

    def on_join(self, conn, event):
        if event.source.nick == conn.get_nickname():
            print("joined", event.target, flush=True)

    def on_pubmsg(self, conn, event):
        text = event.arguments[0].strip()
        if text == "!hello":
            conn.privmsg(event.target, "hello, " + event.source.nick)
        elif text == "!quit" and event.source.nick == self.owner:
            self.die("asked to leave")


if __name__ == "__main__":
    host, port, nick, password, channel, owner = sys.argv[1:7]
    Bot(host, int(port), nick, password, channel, owner).start()
