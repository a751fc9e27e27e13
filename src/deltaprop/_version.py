"""The version of deltaprop (its own module, so that file writers can name it without importing the
package face)."""

__version__ = "0.1.0"
