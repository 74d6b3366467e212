@failure-mode @scenario-user-disabled
Feature: User disabled
  The user's account is disabled (sign-in blocked); sign-in fails with AADSTS50057.
  Guide section: MFA or sign-in loops

  Scenario: User disabled: the symptom
    Given the scenario "user-disabled"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS50057
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 50057 in the sign-in log
    And portal.office.com sign-in fails with AADSTS50057

  Scenario: User disabled: the fix repairs it
    Given the scenario "user-disabled"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
    And portal.office.com sign-in succeeds
