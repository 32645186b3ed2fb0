BkTJ
€ù¿ArÀz½dÁ