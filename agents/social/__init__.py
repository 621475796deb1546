"""The Social agent: social-media copy, marketing plans and customer analysis."""
