"""Email (SMTP): executives, customers, support, one thread per incident."""
