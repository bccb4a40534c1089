"""SlackEmulator: the API families composed into one Web API, and its method table."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness.slack_emulator.auth import Admission
from tests.harness.slack_emulator.chat import ChatMethods
from tests.harness.slack_emulator.conversations import ConversationsMethods
from tests.harness.slack_emulator.files import FilesMethods
from tests.harness.slack_emulator.model import JSON
from tests.harness.slack_emulator.responses import ResponseUrls
from tests.harness.slack_emulator.server import Server
from tests.harness.slack_emulator.socket_envelopes import SocketEnvelopes
from tests.harness.slack_emulator.sockets import SocketConnections
from tests.harness.slack_emulator.users import UsersMethods
from tests.harness.slack_emulator.views import ViewsMethods


class SlackEmulator(
    Server,
    Admission,
    ChatMethods,
    ConversationsMethods,
    UsersMethods,
    ViewsMethods,
    FilesMethods,
    ResponseUrls,
    SocketConnections,
    SocketEnvelopes,
):
    """A stateful Slack Web API on ``127.0.0.1:<random port>``.

    Use as a context manager (``with SlackEmulator() as slack: ...``) or call
    :meth:`start` / :meth:`stop`.  All state lives behind one lock; every
    public accessor returns deep copies.
    """

    def _web_api_methods(self) -> dict[str, Callable[[JSON], JSON]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.join": self._conversations_join,
            "conversations.kick": self._conversations_kick,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.list": self._conversations_list,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.archive": self._conversations_archive,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "bookmarks.add": self._bookmarks_add,
            "bookmarks.list": self._bookmarks_list,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
            "reactions.add": self._reactions_add,
            "reactions.get": self._reactions_get,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    def _app_methods(self) -> dict[str, Callable[[JSON], JSON]]:
        return {"apps.connections.open": self._apps_connections_open}
