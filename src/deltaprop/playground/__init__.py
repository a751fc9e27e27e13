"""The playground: a local web page to watch deltaprop train a small network on 2-D data.

``deltaprop playground`` (or :func:`serve`) serves it on 127.0.0.1; the page draws what the
server's :class:`~deltaprop.playground.session.Session` computes with the library itself: the
network and its weights, every neuron's output over the input plane, the decision boundary or
fitted curve, the loss curves and per-layer gradient norms, and after a single step the deltas of
every layer. The page/server protocol is in docs/playground-protocol.md.
"""

from deltaprop.playground.config import Config, ConfigError, parse_config
from deltaprop.playground.server import PlaygroundServer, RunningServer, serve, serve_in_thread
from deltaprop.playground.session import Session

__all__ = ["Config", "ConfigError", "parse_config", "Session", "PlaygroundServer",
           "RunningServer", "serve", "serve_in_thread"]
