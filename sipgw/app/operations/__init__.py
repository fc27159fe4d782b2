"""Operations: what an operator watches, and what guards the process (overload, breakers)."""
